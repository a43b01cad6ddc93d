"""Signals between modules (blinker, as Flask ships it).

A module reacting to something that happens in a module above it subscribes here instead of
importing upward. Receivers run inside the sender's transaction.
"""
from __future__ import annotations

from blinker import Namespace

signals = Namespace()

#: Sent by ``core.states.Workflow.transition`` after every state change;
#: sender = workflow name; kwargs: obj, action, source, target, actor, session.
status_changed = signals.signal("status-changed")

#: Sent when a user logs in successfully; kwargs: user_id, session.
user_logged_in = signals.signal("user-logged-in")
