# Savin, Dayan & Lengyel 2013 (NIPS): Correlations strike back (again).

RESULT_TARGETS.append(("savin", "fig_correlation_aware_recall"))


rule fig_correlation_aware_recall:
    output:
        png=report(
            "results/savin/fig_correlation_aware_recall.png",
            caption="../report/fig_correlation_aware_recall.rst",
            category="Savin, Dayan & Lengyel 2013",
        ),
        pdf="results/savin/fig_correlation_aware_recall.pdf",
        csv="results/savin/fig_correlation_aware_recall.csv",
        json="results/savin/fig_correlation_aware_recall.json",
    log:
        "logs/savin/fig_correlation_aware_recall.log",
    conda:
        "../envs/assocmem.yaml"
    # The Gibbs sweeps are sequential small tensor operations: one thread is fastest.
    threads: 1
    params:
        experiment=lambda wildcards: experiment_params("savin_correlated_recall"),
    script:
        "../scripts/savin_correlated_recall.py"
