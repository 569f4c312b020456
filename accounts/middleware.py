"""Turn a throttled log-in raised inside any view (the API's HTTP Basic, the admin) into a
429 answer with ``Retry-After``, instead of a server error."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

from accounts.throttle import LoginThrottled, RateLimited


class LoginThrottledMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, LoginThrottled | RateLimited):
            return None
        if request.path.startswith("/api/"):
            response: HttpResponse = JsonResponse({"error": str(exception)}, status=429)
        else:
            response = HttpResponse(
                str(exception), status=429, content_type="text/plain; charset=utf-8"
            )
        response["Retry-After"] = str(exception.retry_after_s)
        return response
