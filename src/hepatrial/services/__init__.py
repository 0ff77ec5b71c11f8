"""Named actions: every write the web app and the API make.

Each ``do_*`` function runs in one transaction that saves the change and
writes its audit rows (who, when, what, old, new, why) inside it, so a write
without its audit row cannot happen. Views and API endpoints call these; they
decide nothing clinical and save no model themselves.
"""
