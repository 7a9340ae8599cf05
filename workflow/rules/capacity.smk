# Capacity counterpoints: Gaussian-KDE / mean-shift capacity (Schaeffer et al. 2024), exponential storage by
# sparse recovery (Mazumdar and Rawat 2015), and the MNIST-bags MIL stand-in of the KHM / U-Hop+ paper (Hu et al.
# 2024).

RESULT_TARGETS.append(("kde", "fig_kde_capacity"))


rule fig_kde_capacity:
    output:
        png=report(
            "results/kde/fig_kde_capacity.png",
            caption="../report/fig_kde_capacity.rst",
            category="Schaeffer et al. 2024 (KDE capacity)",
        ),
        pdf="results/kde/fig_kde_capacity.pdf",
        csv="results/kde/fig_kde_capacity.csv",
        json="results/kde/fig_kde_capacity.json",
    log:
        "logs/kde/fig_kde_capacity.log",
    conda:
        "../envs/assocmem.yaml"
    threads: 1
    params:
        experiment=lambda wildcards: experiment_params("kde_capacity"),
    script:
        "../scripts/kde_capacity.py"


RESULT_TARGETS.append(("sparse_recovery", "fig_sparse_recovery_capacity"))


rule fig_sparse_recovery_capacity:
    output:
        png=report(
            "results/sparse_recovery/fig_sparse_recovery_capacity.png",
            caption="../report/fig_sparse_recovery_capacity.rst",
            category="Mazumdar and Rawat 2015 (sparse recovery)",
        ),
        pdf="results/sparse_recovery/fig_sparse_recovery_capacity.pdf",
        csv="results/sparse_recovery/fig_sparse_recovery_capacity.csv",
        json="results/sparse_recovery/fig_sparse_recovery_capacity.json",
    log:
        "logs/sparse_recovery/fig_sparse_recovery_capacity.log",
    conda:
        "../envs/assocmem.yaml"
    threads: 1
    params:
        experiment=lambda wildcards: experiment_params("sparse_recovery_capacity"),
    script:
        "../scripts/sparse_recovery_capacity.py"


RESULT_TARGETS.append(("khm", "tab_mil_mnist_bags"))


rule tab_mil_mnist_bags:
    input:
        data="resources/data/mnist.pt",
    output:
        png=report(
            "results/khm/tab_mil_mnist_bags.png",
            caption="../report/tab_mil_mnist_bags.rst",
            category="Hu et al. 2024 (KHM / U-Hop+)",
        ),
        pdf="results/khm/tab_mil_mnist_bags.pdf",
        csv="results/khm/tab_mil_mnist_bags.csv",
        json="results/khm/tab_mil_mnist_bags.json",
    log:
        "logs/khm/tab_mil_mnist_bags.log",
    conda:
        "../envs/assocmem.yaml"
    threads: 1
    params:
        experiment=lambda wildcards: experiment_params("khm_mil_bags"),
    script:
        "../scripts/khm_mil_bags.py"
