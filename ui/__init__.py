"""Streamlit glue shared by recall_lab.py and the pages (no algorithm code here)."""
