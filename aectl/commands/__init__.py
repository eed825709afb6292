"""The subcommands: each parses its arguments, calls the library, prints; `aectl.cli` picks one."""
