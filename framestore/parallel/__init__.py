"""Running a job's independent tasks in order (serially, on a local process pool or a Dask
cluster) and writing one store from parts written in parallel."""
