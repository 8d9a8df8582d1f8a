"""Where a course grades: Gradescope (`gradescope`), a Slurm cluster (`slurm`), nbgrader's gradebook (`gradebook`)."""
