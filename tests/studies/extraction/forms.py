"""What the extraction tests do as a browser would: sign in, and post every field of the form as shown."""
from django.test import Client


def signed_in(user) -> Client:
    client = Client(enforce_csrf_checks=False)
    client.force_login(user)
    return client


def form_data(response) -> dict[str, str]:
    """Every field of the extraction form as the page shows it: characteristics, arms, the grid and
    the study estimates, with the concurrency token and base."""
    context = response.context
    data = {"token": context["token"], "base": context["base"]}
    for c in context["characteristics"]:
        data[c["name"]] = c["value"]
    for a in context["arms"]:
        data[f"arm_{a['arm'].pk}_label"] = a["label"]
        data[f"arm_{a['arm'].pk}_randomised"] = a["randomised"]
    for row in context["grid"]:
        for cell in row["cells"]:
            for f in cell["f"].values():
                data[f["name"]] = f["value"]
    for row in context["estimates"]:
        for f in row["f"].values():
            data[f["name"]] = f["value"]
    return data
