"""A stack's timeline, refreshed in place on its page."""
from django.shortcuts import render

from stacks.monitoring.timeline import stack_timeline
from stacks.views import visible_stack


def timeline(request, slug):
    stack = visible_stack(request, slug)
    return render(request, "stacks/stack/_timeline.html", {"stack": stack, "timeline": stack_timeline(stack)})
