"""The dots family's one experiment."""

from kzoo.experiments import Experiment, add

add(Experiment(name="dots-brightness", recipe="dots", model="dots_cnn", inputs="image", targets=("brightness",),
               scale_targets=True, batch_size=16, learning_rate=3e-3, epochs=2, patience=5, evaluation="regression",
               goals={"mae_scaled": {"brightness": ("<=", 0.5)}}, seed="none",
               description="The brightness of one Gaussian dot."))
