from django.apps import AppConfig


class StacksConfig(AppConfig):
    default_auto_field = 'django.db.models.BigAutoField'
    name = 'stacks'
