"""Catalog: package manifests read from image files, one cataloger per ecosystem."""
