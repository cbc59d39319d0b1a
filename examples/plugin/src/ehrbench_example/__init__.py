"""An example ehrbench plugin: a generator, a metric and a dataset, declared as entry points."""
