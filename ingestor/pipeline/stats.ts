/** The pipeline's own counters, shared by its stages and reported by main. */
export interface PipelineStats {
  messagesIn: number;
  pointsAccepted: number;
  pointsWritten: number;
  pointsRejectedByInflux: number;
  writeRetries: number;
}

export const emptyStats = (): PipelineStats => ({
  messagesIn: 0,
  pointsAccepted: 0,
  pointsWritten: 0,
  pointsRejectedByInflux: 0,
  writeRetries: 0,
});
