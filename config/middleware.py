"""Project-wide response headers."""

from django.utils.cache import add_never_cache_headers


class NoStoreWhenSignedInMiddleware:
    """Nothing shown to a signed-in user (pages, PDFs, exports, the admin) is kept by the browser
    or a proxy: `Cache-Control: no-store`, so a shared computer's back button or disk cache
    shows no patient data after sign-out. Static files are served before this (WhiteNoise)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.user.is_authenticated:
            add_never_cache_headers(response)
        return response
