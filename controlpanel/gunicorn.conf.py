# gunicorn's settings for the panel's web server (bin/serve, which bin/run
# starts, and the Dockerfile). The access log keeps method, path, status, size,
# time and user agent: no query string, no Referer (tokens travel there).
accesslog = "-"
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)ss "%(a)s"'
logger_class = "controlpanel.serverlog.PanelLogger"
timeout = 60
# gunicorn 25+ opens a control socket at ~/.gunicorn/gunicorn.ctl: the panel is not
# managed through it, and two servers on one host (a test beside bin/run) would
# claim the same path. (Older gunicorn ignores the setting.)
control_socket_disable = True
