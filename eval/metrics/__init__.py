"""Pure metric functions (torch / numpy / scipy only); added with the annotation and prior issues."""
