"""`shipline doctor`: can this configuration deploy? One line per check, with what to do.

The checks (redis_check, docker_check, registry_check, trivy_check, git_check,
project_check) each pair an adapter that gathers facts (network, subprocess) with a pure
function that judges them; plan.py picks the checks the settings call for, runner.py runs
them concurrently with a deadline each, render.py prints them. `shipline up` runs the fast
ones at start (startup.py).
"""
