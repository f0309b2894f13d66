"""The WSGI application, as gunicorn and `manage.py runserver` (`make run`) load it."""

import os

from django.core.servers import basehttp
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "streamsite.settings")

# runserver's handler sends an answer's headers and its body in two writes; with Nagle's
# algorithm on, the body waits for the browser's delayed ACK of the headers, 40 ms on every
# request of `make run`. socketserver's own switch turns it off (gunicorn, which serves
# production, sets TCP_NODELAY itself and does not use this handler).
basehttp.WSGIRequestHandler.disable_nagle_algorithm = True

application = get_wsgi_application()
