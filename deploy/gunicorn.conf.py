"""gunicorn settings for dssportal (``gunicorn -c deploy/gunicorn.conf.py dssportal.wsgi``).

Every value can be overridden on the command line; ``manage.py serveportal`` passes --bind and
--workers. Environment: GUNICORN_BIND, GUNICORN_WORKERS, FORWARDED_ALLOW_IPS.
"""

import os

wsgi_app = "dssportal.wsgi:application"
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
# Staging downloads (Range, zip) stream through the app unless nginx serves them; a slow client
# holds a sync worker, so give each worker a few threads.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 60
graceful_timeout = 10
# Only the local proxy may say which scheme and client address a request came from.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = "-"
# gunicorn's default format, with the client address the proxy passed on after the proxy's own.
access_log_format = (
    '%(h)s %({x-forwarded-for}i)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'
)
errorlog = "-"
# Recycle workers now and then so that a slow leak in a library cannot grow without bound.
max_requests = 5000
max_requests_jitter = 500
