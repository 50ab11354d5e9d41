"""Pure figure builders: plain data (traces, arrays) in, ``plotly.graph_objects.Figure`` out."""
