"""The rings family's classical reference: the shared PCA + SVM (kzoo.reference.pca_svm_reference), on ring counts."""

ESTIMATES = {"pca_svm": {"rings": ("ring_class",)}}
