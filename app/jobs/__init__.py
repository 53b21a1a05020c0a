"""OGC API Processes jobs: a procrastinate queue in PostgreSQL, worker tasks, job records.

- :mod:`app.jobs.queue`: the procrastinate app (PostgreSQL connector on ``libpq_url``);
- :mod:`app.jobs.tasks`: the one task, ``run_process(job_id)``, that runs any process;
- :mod:`app.jobs.store`: job rows (status, progress, message, results);
- :mod:`app.jobs.registry` / :mod:`app.jobs.processes`: what a process is, which exist;
- :mod:`app.jobs.worker`: ``run_worker()`` plus the sweep that fails or retries jobs whose
  worker died.
"""
