"""Names of the per-frame columns of a chunk index that framestore itself uses."""

FRAME_NUMBER = "frame_number"
FRAME_TIME = "frame_time"
VIDEO_PTS = "video_pts"
VIDEO_KEYFRAME = "video_keyframe"
CRC32 = "crc32"  # of the stored bytes of each frame (video packet or image file)
# of the codec set-up stored in the video file (its extradata: H.264's SPS/PPS, ...), which
# decodes every frame of it: the same value on each frame of a chunk
VIDEO_CODEC_CRC32 = "video_codec_crc32"
VIDEO_OFFSET = "video_offset"  # uncompressed chunks: where each frame's bytes start in the file
RESERVED_COLUMNS = (
    FRAME_NUMBER,
    FRAME_TIME,
    VIDEO_PTS,
    VIDEO_KEYFRAME,
    CRC32,
    VIDEO_CODEC_CRC32,
    VIDEO_OFFSET,
)
