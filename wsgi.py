"""The WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi …`."""

from microsite import create_app

app = create_app()
