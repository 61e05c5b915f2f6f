"""File formats: reading and writing motions (BVH, rigs) and rendering them to images and video."""
