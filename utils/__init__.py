"""Shared helpers for the workbook: device choice, seeding, progress bars and plots."""

from utils.device import get_device
from utils.plotting import (
    plot_attribution_graph,
    plot_attribution_vs_ablation,
    plot_dimensions_per_feature,
    plot_dose_response,
    plot_feature_dashboard,
    plot_feature_norms,
    plot_features_in_2d,
    plot_firing_fractions,
    plot_firing_frequency_histogram,
    plot_frontier,
    plot_graph_vs_intervention,
    plot_histograms,
    plot_neuron_weights,
    plot_phase_diagram,
    plot_probe_accuracy,
    plot_seed_ranges,
    plot_test_loss_curves,
    plot_WtW,
    use_offline_renderer,
)
from utils.progress import progress_bar
from utils.seed import set_seed

__all__ = [
    "get_device", "progress_bar", "set_seed", "use_offline_renderer", "plot_features_in_2d", "plot_WtW",
    "plot_feature_norms", "plot_dimensions_per_feature", "plot_firing_fractions",
    "plot_firing_frequency_histogram", "plot_histograms", "plot_feature_dashboard", "plot_frontier",
    "plot_neuron_weights", "plot_phase_diagram", "plot_test_loss_curves", "plot_dose_response",
    "plot_attribution_graph", "plot_attribution_vs_ablation", "plot_graph_vs_intervention", "plot_probe_accuracy",
    "plot_seed_ranges",
]
