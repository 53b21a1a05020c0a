"""OGC API Processes jobs: a procrastinate queue in PostgreSQL, worker tasks, job records.

- :mod:`app.jobs.queue`: the procrastinate app (PostgreSQL connector on ``libpq_url``);
- :mod:`app.jobs.tasks`: the one task, ``run_process(job_id)``, that runs any process;
- :mod:`store.jobs`: job rows (status, progress, message, results), and
  :mod:`store.results`: what the processes read and store;
- :mod:`app.jobs.registry` / :mod:`app.jobs.processes`: what a process is, which exist;
- :mod:`app.jobs.worker`: ``run_worker()`` (the worker process's entry point: it reads the
  settings once and hands them to every job) plus the sweep that fails or retries jobs whose
  worker died.
"""
