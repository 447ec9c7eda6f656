"""No models. The module exists so that Django sends this app post_migrate (it skips apps without a
models module), which creates the throttle cache table (annotune/apps.py) on every `migrate`."""
