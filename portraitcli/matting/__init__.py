"""The matte: ONNX model -> subject choice -> full-resolution refinement -> temporal filter (segmenter.py joins them)."""
