"""The panel's own events, told to the team: recorded as rows (events), sent to
the stack's Alertmanager and to notification URLs (deliver), the alert path
watched end to end (path), alerts held while a deploy interrupts services
(holds), changes not deployed and drift (drift), "who gets this alert" (routes).

A layer of its own under adoption | alerting | monitoring: the alert webhook
(heartbeats, acknowledgements), the health poller and the operations all
record events here."""
