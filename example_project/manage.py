#!/usr/bin/env python
import sys

if __name__ == "__main__":
    from otree.management.cli import execute_from_command_line

    execute_from_command_line(sys.argv, script_file=__file__)
