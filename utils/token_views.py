"""Token-level views (circuitsvis) that work offline, in Jupyter, Colab and a terminal.

circuitsvis decides *when it is displayed* whether to inline its JavaScript or load it from a CDN,
by trying to reach google.com (a one-second wait, every time, and a different notebook online and
offline); its element ids are random. A `TokenView` always inlines the JavaScript that the circuitsvis
package ships (no network, ever), numbers its elements in display order (the same ids on every run),
and carries a plain-text version of itself: what a terminal, or `print`, shows.
"""

from __future__ import annotations

import itertools
import re

_ids = itertools.count()


class TokenView:
    """A circuitsvis React element (e.g. "TopkSamples", "ColoredTokens") with its props, shown as
    HTML in a notebook and as `text` anywhere else."""

    def __init__(self, element: str, text: str, **props):
        self.element, self.text, self.props = element, text, props
        self.element_id = f"circuits-vis-view-{next(_ids)}"

    def _repr_html_(self) -> str:
        from circuitsvis.utils.render import render_local

        html = render_local(self.element, **self.props)  # the package's own bundle, inlined
        random_id = re.search(r"circuits-vis-[0-9a-f-]+", html).group(0)
        return html.replace(random_id, self.element_id)

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__


def top_samples_view(samples: dict[str, list[tuple[list[str], list[float]]]], text: str) -> TokenView:
    """circuitsvis's TopkSamples: for each label (a latent, a neuron), its samples, each a list of
    token strings and one value per token (the colour). A selector switches between labels."""
    labels = list(samples)
    tokens = [[[strs for strs, _ in samples[label]] for label in labels]]
    values = [[[[round(float(v), 4) for v in vals] for _, vals in samples[label]] for label in labels]]
    return TokenView("TopkSamples", text, tokens=tokens, activations=values, zerothDimensionName="SAE",
                     firstDimensionName="Latent", zerothDimensionLabels=["SAE"], firstDimensionLabels=labels)
