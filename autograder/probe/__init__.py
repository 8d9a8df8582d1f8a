"""Code that runs next to student code, inside a sandbox. It calls and saves; it decides nothing.

Each module here is standalone (it imports nothing from the kit): the grader copies it into the
sandbox's scratch folder and runs it there. What it writes is measured by `autograder.measure`.
"""
