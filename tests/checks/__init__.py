"""The checks learners' code is held to: one per exercise, shared by the notebooks, the grader and pytest.
Each section's module has a CHECKS table: exercise name -> (check function, notebook object it takes)."""
