"""Snakemake HTML report: categories and the `report()` flag of figures and key tables.

`snakemake --report results/report.html` after a run collects every output flagged here,
with its caption from workflow/report/*.rst and labels stack / band / product.
"""

REPORT_MOSAICS = "1 Mosaics & background"
REPORT_DETECTION = "2 Detection"
REPORT_CALIBRATION = "3 Calibration"
REPORT_CATALOG = "4 Catalogue & number counts"
REPORT_COUNTERPARTS = "5 Counterparts"
REPORT_CHARACTERISE = "6 Spectral shape & variability"
REPORT_CATEGORIES = (
    REPORT_MOSAICS,
    REPORT_DETECTION,
    REPORT_CALIBRATION,
    REPORT_CATALOG,
    REPORT_COUNTERPARTS,
    REPORT_CHARACTERISE,
)


def report_item(path, category, subcategory, caption, product, band="all"):
    """Flag one output of a stack for the report.

    `caption` names workflow/report/<caption>.rst (relative to the rule files);
    the labels (stack, band, product) are the columns of the report's result tables.
    """
    return report(
        path,
        caption=f"../report/{caption}.rst",
        category=category,
        subcategory=subcategory,
        labels={"stack": "{stack}", "band": band, "product": product},
    )
