"""A stack's timeline, refreshed in place on its page."""
from django.shortcuts import get_object_or_404, render

from stacks.models import Stack
from stacks.monitoring.timeline import stack_timeline


def timeline(request, slug):
    stack = get_object_or_404(Stack, slug=slug)
    return render(request, "stacks/stack/_timeline.html", {"stack": stack, "timeline": stack_timeline(stack)})
