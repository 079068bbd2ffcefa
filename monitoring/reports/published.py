"""Published figures of mipomersen's liver and lipid effects, shown beside the arm comparison."""

REFERENCE_SOURCE = (
    "BenchChem Technical Support, “Navigating Mipomersen-Induced Liver Enzyme Elevations”, "
    "December 2025 — a secondary summary; each figure comes from a different study and population."
)
PUBLISHED_INCIDENCE = (
    ("14.5%", "Phase III, heterozygous familial hypercholesterolaemia, 200 mg weekly"),
    ("33%", "Statin-intolerant, high cardiovascular risk, 200 mg weekly"),
    ("6%", "HeFH with coronary artery disease, 200 mg weekly (two consecutive measurements)"),
    ("7%", "General phase III data, 200 mg weekly"),
)
PUBLISHED_LIPIDS = {
    "LDLC": ("−28%", "200 mg weekly, at 26 weeks"),
    "APOB": ("−50%", "200 mg weekly, at 4 weeks (an earlier time point than ours)"),
}
