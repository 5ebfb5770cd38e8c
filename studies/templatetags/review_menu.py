"""``{% review_menu review %}``: the header's links to the review's pages the viewer may open."""
from django import template

from studies.pages.work import review_menu as menu_for

register = template.Library()


@register.inclusion_tag("studies/_review_menu.html", takes_context=True)
def review_menu(context, review) -> dict:
    request = context.get("request")
    if request is None or not getattr(review, "pk", None):  # error pages render without a request
        return {"links": []}
    return {"links": menu_for(request, review)}
