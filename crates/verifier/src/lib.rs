//! Math answer extraction, normalisation and exact equivalence checking, plus datasets (Build a Reasoning Model, chapter 3)
