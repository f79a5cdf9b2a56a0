"""The Docker course: rendering and parsing its pages, and the checks a learner can run."""
