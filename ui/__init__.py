"""Streamlit glue shared by app.py and the pages (no algorithm code here)."""
