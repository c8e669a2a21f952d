"""Memories a model carries between problems: ACE playbooks, ArcMemo concepts (one interface in base.py)."""
