"""The training queue page: workers, what they have and run, and the jobs waiting for them."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from ..selectors import workers as selectors


@login_required
def training_queue(request):
    context = selectors.queue_page(request.user)
    context["waiting_by_queue"] = sorted(selectors.waiting_by_queue().items())
    return render(request, "training/queue.html", context)
