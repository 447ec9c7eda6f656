import os

from django.core.wsgi import get_wsgi_application

from annotune.web_process import prepare_web_process

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "annotune.settings")

application = get_wsgi_application()
prepare_web_process()
