"""The steps of a scenario run: inputs, analysis and optimisation (see :func:`planner.scenario.run_scenario`)."""
