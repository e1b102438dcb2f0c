"""The command-line programs: one small click module per program over the library."""
