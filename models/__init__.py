"""Training: datasets from bars, the model zoo, the training loop and ONNX export (the only part that imports torch).

`config` (training settings), `metrics` and the dataset builders (`windows`, `fundamentals`, `intraday`,
`images`, `pairs`) load no torch; `zoo`, `network`, `train`, `export` and `pipeline` do. Importing this
package loads nothing; import the module you need.
"""
