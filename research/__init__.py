"""The research workflow: experiment files, walk-forward folds, seeds, baselines and surrogates.

Importing this package loads nothing; import the module you need.
"""
